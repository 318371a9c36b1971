"""Plans: definition (frozen values), builder (pure), evaluator (deploy), explainer (text, markdown)."""
