"""Imports every model module so ``Base.metadata`` is complete (migrations, create_all)."""
from kb import articles_models, intake_models, jobs, taxonomy, ticket_events, ticket_messages, tickets, users  # noqa: F401
from kb.sla import models as sla_models  # noqa: F401
