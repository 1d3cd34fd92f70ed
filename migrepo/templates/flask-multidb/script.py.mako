<%
    from migrepo.runtime import bind_names
    databases = [""] + bind_names()
%>"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()




% for name in databases:

def upgrade_${name}():
    ${context.get("%s_upgrades" % name, "pass")}


def downgrade_${name}():
    ${context.get("%s_downgrades" % name, "pass")}

% endfor
