"""approvals: a BPMN approvals engine and service for government-invested construction projects."""
