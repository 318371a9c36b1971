"""Human sign-off before a regulatory or finance submission leaves the platform.

    sign_off(task_id="mlro_sign_off", subject="Monthly AML return {{ ds }}", approver_role="MLRO")

The task waits in Airflow's human-in-the-loop inbox; a rejection fails the run, so nothing downstream
(the submission) happens without an approval recorded against the run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator


def sign_off(
    task_id: str,
    subject: str,
    *,
    approver_role: str,
    body: str = "",
    response_timeout: timedelta = timedelta(days=2),
    **operator_kwargs: Any,
) -> ApprovalOperator:
    """Wait for an approval by the holder of `approver_role`; a rejection fails the task."""
    if not approver_role.strip():
        raise ValueError("a sign-off names the role that approves")
    text = f"**Approver:** {approver_role}\n\n{body}".strip()
    return ApprovalOperator(
        task_id=task_id,
        subject=subject,
        body=text,
        fail_on_reject=True,
        response_timeout=response_timeout,
        **operator_kwargs,
    )
