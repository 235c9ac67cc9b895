"""All contact with SpiffWorkflow lives in this package; nothing else imports it."""

# The logger SpiffWorkflow writes under ("spiff.task", "spiff.workflow", …). At INFO it logs every
# task state change — several lines a step, engine internals that name no instance — which
# the service's own events and request log already say in its terms (``configure_logging``).
ENGINE_LOGGER = "spiff"
