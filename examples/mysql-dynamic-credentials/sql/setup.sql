-- MySQL/MariaDB side of the example (MySQL dynamic credentials for Kubernetes pods): the application's database. Run it as root:
--   mariadb -u root -p < sql/setup.sql
-- Nothing else: the users are created by Vault (the role's creation statement) and dropped by Vault (its revocation
-- statements), and privileges in MySQL belong to users, not objects: every user Vault creates gets ALL on
-- pipeline.*, so a table created by one of them is usable by the next one without any ownership dance.
CREATE DATABASE IF NOT EXISTS pipeline;
