terraform {
  required_version = ">= 1.0.0"
}

variable "environment_name" {
  type = string
}

variable "namespace" {
  type        = string
  description = "Filled by Bridge: the Kubernetes namespace it creates for the sandbox."
}

variable "size" {
  type    = string
  default = "small"
  validation {
    condition     = contains(["small", "medium", "large"], var.size)
    error_message = "The size must be small, medium or large."
  }
}

variable "members" {
  type    = number
  default = 3
  validation {
    condition     = var.members >= 1 && var.members <= 20
    error_message = "A sandbox is for 1 to 20 people."
  }
}

variable "purpose" {
  type    = string
  default = ""
}

variable "allow_public_ingress" {
  type    = bool
  default = false
}

locals {
  sizes = {
    small  = { cpu = 2, memory_gi = 4, storage_gi = 20 }
    medium = { cpu = 4, memory_gi = 8, storage_gi = 50 }
    large  = { cpu = 8, memory_gi = 16, storage_gi = 100 }
  }
  base = local.sizes[var.size]
  # Every member beyond the third adds half a CPU and 1 GiB. Bridge applies these
  # as the namespace's ResourceQuota (kubernetes.quota in bridge-template.yaml).
  extra = max(var.members - 3, 0)
  quota = {
    cpu     = tostring(local.base.cpu + local.extra * 0.5)
    memory  = "${local.base.memory_gi + local.extra}Gi"
    storage = "${local.base.storage_gi}Gi"
    pods    = tostring(10 * var.members)
  }
}

output "namespace" {
  value = var.namespace
}

output "quota" {
  value = local.quota
}

output "ingress" {
  value = var.allow_public_ingress ? "public" : "internal only"
}
