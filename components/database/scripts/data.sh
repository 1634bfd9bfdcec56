# Marks this node's data directory for deletion on destroy (database.deleteDataOnDestroy).
# Params: PACKAGE, DATA_DIR.
say "${DATA_DIR} will be deleted when the server is destroyed"
