"""FinOps: cost data pulled from each cloud connection, stored as FOCUS 1.2 rows, attributed to
environments, with budgets, anomaly alerts, a dashboard and exports. Sits above `connections`."""
