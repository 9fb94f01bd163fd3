"""The pages people use, one module per area; every view starts with an access check."""
