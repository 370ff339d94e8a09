"""LocalStack with one fix that makes Route 53 behave like the real service.

LocalStack 2026.3.0 (through its moto fork) keeps a health check disabled after
UpdateHealthCheck with Disabled=false: the flag arrives as the string "false", which the update
only applies when truthy and later reads back as true. Real Route 53 re-enables the health check.
aegis-dr disables the primary's health check on failover and enables it again on failback.
Usage: python scripts/localstack_server.py (configured through LocalStack's environment variables)
"""

from moto.route53.models import Route53Backend

_update = Route53Backend.update_health_check


def _update_health_check(self, health_check_id, health_check_args):
    disabled = health_check_args.get("disabled")
    health_check = _update(self, health_check_id, health_check_args)
    if disabled is not None:
        health_check.disabled = (
            disabled.strip().lower() == "true" if isinstance(disabled, str) else bool(disabled)
        )
    return health_check


Route53Backend.update_health_check = _update_health_check

if __name__ == "__main__":
    from localstack.runtime.main import main

    main()
