"""oktasync: Okta-side configuration-as-code for SCIM provisioning."""

__version__ = "0.1.0"
