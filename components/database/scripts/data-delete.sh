# Deletes the data directory, but only once the server package is gone: this also runs when the
# option is turned off, and must never pull the data from under a running server.
# Params: PACKAGE, DATA_DIR.
if installed "${PACKAGE}"; then
    say "${PACKAGE} is installed; keeping ${DATA_DIR}"
    exit 0
fi
say "deleting ${DATA_DIR}"
rm -rf "${DATA_DIR}" /etc/mysql/debian.cnf
rmdir /etc/mysql 2>/dev/null || true
# The account the package made to own the data goes with it.
userdel mysql 2>/dev/null || true
groupdel mysql 2>/dev/null || true
