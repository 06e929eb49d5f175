variable "region" {
  type    = string
  default = "eu-central-1"
}
variable "branch" {
  type    = string
  default = "main"
}
variable "size" {
  type    = string
  default = "small"
}
variable "debug" {
  type    = bool
  default = false
}
output "url" {
  value = "https://${var.branch}.example.com"
}
