"""Azure ML for Airflow (the microsoft-azure provider has none): AzureMLHook over the azure-ai-ml SDK, the
AzureMLJobTrigger a deferred job waits on, and AzureMLJobOperator and AzureMLRegisterModelOperator.

Importing these modules costs only airflow: the SDK loads when a task runs.
"""
