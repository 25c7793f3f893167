-- PostgreSQL side of the example (dynamic PostgreSQL roles for Kubernetes pods), run once as a superuser:
--   psql -v ON_ERROR_STOP=1 -f sql/setup.sql
--
-- PostgreSQL has no groups, but a role can be granted to another role. db1_grp (no LOGIN) owns db1 and what is in
-- it; every role Vault creates is a member of it, so that the short-lived roles of all the pods share one set of
-- privileges and one owner.
CREATE DATABASE db1;
REVOKE ALL ON DATABASE db1 FROM PUBLIC;
CREATE ROLE db1_grp;
GRANT CONNECT ON DATABASE db1 TO db1_grp;
ALTER DATABASE db1 OWNER TO db1_grp;

-- The superuser Vault logs in with to create and drop the roles. Its dummy password is replaced by Vault at once
-- (vault write -force database/rotate-root/db1): from then on nobody but Vault knows it.
CREATE ROLE admin_db1 WITH LOGIN SUPERUSER PASSWORD 'password';

-- Schema privileges belong to a database: these run in db1. (The article runs them in the same psql session as
-- CREATE DATABASE, i.e. in the `postgres` database, where they do not touch db1's public schema.)
\connect db1
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT ALL PRIVILEGES ON SCHEMA public TO db1_grp;
GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO db1_grp;
GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public TO db1_grp;
GRANT ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA public TO db1_grp;
