variable "size" {
  type = number
}
output "x" {
  value = local.missing
}
