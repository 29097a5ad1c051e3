"""Imports every model module so ``Base.metadata`` is complete (migrations, create_all)."""
from kb import (articles_models, channel_models, intake_models, jobs, taxonomy, teams, ticket_events, ticket_messages,  # noqa: F401
                ticket_records, tickets, users)
from kb.sla import models as sla_models  # noqa: F401
