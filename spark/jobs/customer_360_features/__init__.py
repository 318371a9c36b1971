"""Daily customer 360 features from accounts, payments and card fraud scores."""
