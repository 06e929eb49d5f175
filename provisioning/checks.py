from django.core import checks

from provisioning import terraform


@checks.register(checks.Tags.compatibility)
def terraform_binary_check(app_configs, **kwargs):
    problem = terraform.binary_problem()
    if problem is None:
        return []
    return [
        checks.Warning(
            f"Terraform is not available: {problem}.",
            hint="Environments cannot be planned or applied until it is. Run `make install`, "
            "or point TERRAFORM_BIN at a terraform or tofu binary.",
            id="provisioning.W001",
        )
    ]
