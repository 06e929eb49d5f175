variable "size" {
  type = number
  validation {
    condition     = var.size % 2 == 0
    error_message = "The size must be even."
  }
}
output "half" {
  value = var.size / 2
}
output "secret" {
  value     = "s3cr3t-${var.size}-value"
  sensitive = true
}
