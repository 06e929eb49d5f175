variable "app" {
  type = string
}

variable "db_password" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.db_password) >= 8
    error_message = "The password needs at least 8 characters."
  }
}

variable "api_token" {
  type      = string
  default   = ""
  sensitive = true
}

# Proves that Terraform received the real value, not the mask Bridge shows.
output "password_sha256" {
  value = nonsensitive(sha256(var.db_password))
}

output "connection" {
  value     = "postgres://${var.app}:${var.db_password}@db.internal/${var.app}"
  sensitive = true
}
