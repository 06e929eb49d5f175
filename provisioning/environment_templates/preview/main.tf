terraform {
  required_version = ">= 1.0.0"
}

variable "namespace" {
  type        = string
  description = "Filled by Bridge: the Kubernetes namespace it creates (empty when no cluster is configured)."
}

variable "environment_name" {
  type        = string
  description = "Filled by Bridge: the environment's name."
}

variable "app" {
  type = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.app))
    error_message = "The app must be a DNS label of 2 to 31 characters."
  }
}

variable "branch" {
  type    = string
  default = "main"
  validation {
    condition     = length(var.branch) > 0 && length(var.branch) <= 100
    error_message = "The branch must have 1 to 100 characters."
  }
}

variable "replicas" {
  type    = number
  default = 1
  validation {
    condition     = var.replicas >= 1 && var.replicas <= 3 && floor(var.replicas) == var.replicas
    error_message = "Replicas must be a whole number from 1 to 3."
  }
}

variable "debug" {
  type    = bool
  default = false
}

locals {
  slug      = substr(replace(lower(var.branch), "/[^a-z0-9-]/", "-"), 0, 20)
  hostname  = "${var.app}-${local.slug}.preview.example.internal"
  cpu_milli = 250 * var.replicas
}

output "namespace" {
  value = var.namespace
}

output "url" {
  value = "https://${local.hostname}"
}

output "resources" {
  value = {
    replicas  = var.replicas
    cpu       = "${local.cpu_milli}m"
    memory    = "${256 * var.replicas}Mi"
    log_level = var.debug ? "debug" : "info"
  }
}
