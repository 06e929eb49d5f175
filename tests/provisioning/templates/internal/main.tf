variable "app" {
  type = string
}

variable "notes" {
  type    = string
  default = ""
}

variable "backups_enabled" {
  type    = bool
  default = true
}

variable "allowed_cidr" {
  type    = string
  default = "10.0.0.0/8"
}

output "backups_enabled" {
  value = var.backups_enabled
}

output "allowed_cidr" {
  value = var.allowed_cidr
}
