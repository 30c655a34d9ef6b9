#!/bin/sh
# Seeds the directory from DIRECTORY_PEOPLE (one person per line: "uid mail password") and runs
# slapd on port 1389 in the foreground. Passwords are stored as salted SHA-1 (slappasswd).
set -eu
: "${DIRECTORY_PEOPLE:?set DIRECTORY_PEOPLE: one line per person, \"uid mail password\"}"
mkdir -p /tmp/slapd/data
seed=/tmp/slapd/seed.ldif
cat >"$seed" <<LDIF
dn: dc=mlops,dc=local
objectClass: dcObject
objectClass: organization
o: mlops-platform test directory
dc: mlops

dn: ou=people,dc=mlops,dc=local
objectClass: organizationalUnit
ou: people
LDIF
printf '%s\n' "$DIRECTORY_PEOPLE" | while read -r uid mail password; do
  [ -n "$uid" ] || continue
  printf '\ndn: uid=%s,ou=people,dc=mlops,dc=local\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s\nuserPassword: %s\n' \
    "$uid" "$uid" "$uid" "$uid" "$mail" "$(slappasswd -h '{SSHA}' -s "$password")" >>"$seed"
done
slapadd -f /etc/ldap/mlops-slapd.conf -l "$seed"
echo "directory: $(grep -c '^dn: uid=' "$seed") people under ou=people,dc=mlops,dc=local"
exec slapd -d 0 -f /etc/ldap/mlops-slapd.conf -h ldap://0.0.0.0:1389/
