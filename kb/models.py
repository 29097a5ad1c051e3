"""Imports every model module so ``Base.metadata`` is complete (migrations, create_all)."""
from kb import (articles_models, channel_models, insight_review, intake_models, jobs, loop_models,  # noqa: F401
                taxonomy, teams, ticket_events, ticket_messages, ticket_records, tickets, users)
from kb.sla import models as sla_models  # noqa: F401
