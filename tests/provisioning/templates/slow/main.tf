variable "n" {
  type    = number
  default = 1000
}
variable "k" {
  type    = number
  default = 3
}
locals {
  grid = flatten([for i in range(var.n) : [for j in range(var.n) : [for m in range(var.k) : i * j * m]]])
}
output "cells" {
  value = length(local.grid)
}
