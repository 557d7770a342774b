"""Reports built from TestOutcome data; no pytest state here."""
