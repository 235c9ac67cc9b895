"""All contact with SpiffWorkflow lives in this package; nothing else imports it."""
