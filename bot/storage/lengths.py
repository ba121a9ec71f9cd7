"""Column lengths that code outside the models cuts or checks values against (no SQLAlchemy
here: the settings read it without loading the database's modules)."""

# The length of every id and name column (a platform's ids and refs, operators, replicas): a
# value from outside is cut to it before it is stored (``value[:ID_LENGTH]``).
ID_LENGTH = 128
