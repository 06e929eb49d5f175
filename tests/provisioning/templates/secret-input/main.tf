variable "db_password" {
  type      = string
  sensitive = true
}
output "password_length" {
  value = nonsensitive(length(var.db_password))
}
# A careless module: it prints the secret. Bridge still keeps it out of the run's log.
output "careless" {
  value = nonsensitive("password=${var.db_password}")
}
