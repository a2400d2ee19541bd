"""The saga's domain: models, decisions and the order and payment ledgers."""
