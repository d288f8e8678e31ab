"""`counselkit access`: which accounts exist per tenant, which completed 2FA, seats used vs licensed."""
