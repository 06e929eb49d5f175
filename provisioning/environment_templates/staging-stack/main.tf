terraform {
  required_version = ">= 1.0.0"
}

variable "namespace" {
  type        = string
  description = "Filled by Bridge: the Kubernetes namespace it creates (empty when no cluster is configured)."
}

variable "environment_name" {
  type = string
}

variable "request_id" {
  type = number
}

variable "service" {
  type = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.service))
    error_message = "The service must be a DNS label."
  }
}

variable "tier" {
  type    = string
  default = "standard"
  validation {
    condition     = contains(["standard", "high-memory"], var.tier)
    error_message = "The tier must be standard or high-memory."
  }
}

variable "replicas" {
  type    = number
  default = 2
  validation {
    condition     = var.replicas >= 2 && var.replicas <= 10
    error_message = "A staging stack runs 2 to 10 replicas."
  }
}

variable "db_storage_gb" {
  type    = number
  default = 20
  validation {
    condition     = var.db_storage_gb >= 10 && var.db_storage_gb <= 500
    error_message = "Database storage is between 10 and 500 GB."
  }
}

variable "region" {
  type    = string
  default = "eu-west"
}

locals {
  memory_per_replica = var.tier == "high-memory" ? 2048 : 512
  database_name      = replace("${var.service}_staging", "-", "_")
  database_host      = "${var.service}-db.${var.region}.staging.example.internal"
}

output "namespace" {
  value = var.namespace
}

output "sizing" {
  value = {
    replicas      = var.replicas
    memory        = "${local.memory_per_replica * var.replicas}Mi"
    db_storage_gb = var.db_storage_gb
  }
}

output "database_url_host" {
  value = local.database_host
}

output "database_password" {
  description = "Derived from the request; never shown by Bridge."
  value       = substr(sha256("${var.environment_name}/${var.request_id}/${local.database_name}"), 0, 24)
  sensitive   = true
}
