"""Contract suites: subclass one in a plugin's tests to prove it keeps the hook contract.

Each suite is a plain pytest class; the subclass provides a fixture that builds the provider under test.
The in-tree plugins run these same suites.
"""
