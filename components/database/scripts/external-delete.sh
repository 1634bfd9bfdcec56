# Removes the client the check installed, if it did. The external server is never touched.
# Params: as external.sh.
packages_remove "database-${PACKAGE}"
