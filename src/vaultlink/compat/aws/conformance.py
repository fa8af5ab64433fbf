"""The README's AWS conformance tables, generated from botocore's service models and the front end's
operation tables so they cannot drift: ``python -m vaultlink.compat.aws.conformance`` prints them, and
``tests/unit/compat/test_conformance.py`` checks the README holds exactly this text (and that a boto3 test
calls every operation marked implemented)."""

from __future__ import annotations

from botocore import xform_name

from vaultlink.compat.aws.operations import BACKUP, EC2, GATEWAY, STS
from vaultlink.compat.aws.shapes import service_model

START, END = "<!-- aws-conformance:start -->", "<!-- aws-conformance:end -->"


def snake(name: str) -> str:
    """botocore's method name of an operation (``ListBackupVaults`` → ``list_backup_vaults``)."""
    return str(xform_name(name))


def tables() -> str:
    model = service_model("backup")
    names = sorted(model.operation_names)
    done = [n for n in names if n in BACKUP]
    lines = [START, "",
             f"AWS Backup (`backup`, rest-json, API {model.api_version}): **{len(done)} of {len(names)}** "
             "operations.",
             "", "| operation | boto3 method | implemented |", "|---|---|---|"]
    lines += [f"| {n} | `{snake(n)}` | {'yes' if n in BACKUP else 'no'} |" for n in names]
    ec2 = service_model("ec2")
    lines += ["", f"EC2 (`ec2`, query, API {ec2.api_version}): the VPC, subnet, VPC endpoint and peering "
              f"operations below ({len(EC2)} of {len(ec2.operation_names)}; every other EC2 operation answers "
              "`InvalidAction`). STS (`sts`): " + ", ".join(f"`{n}`" for n in sorted(STS)) + ".", "",
              "| EC2 operation | boto3 method |", "|---|---|"]
    lines += [f"| {n} | `{snake(n)}` |" for n in sorted(EC2)]
    gw = service_model("backup-gateway")
    gnames = sorted(gw.operation_names)
    lines += ["", f"AWS Backup Gateway (`backup-gateway`, JSON 1.0, API {gw.api_version}): **"
              f"{sum(n in GATEWAY for n in gnames)} of {len(gnames)}** operations (a hypervisor is a directory of "
              "raw or qcow2 images on the appliance; bandwidth schedules, property mappings, tags and software "
              "updates are not served).", "", "| operation | boto3 method | implemented |", "|---|---|---|"]
    lines += [f"| {n} | `{snake(n)}` | {'yes' if n in GATEWAY else 'no'} |" for n in gnames]
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    print(tables())


if __name__ == "__main__":
    main()
