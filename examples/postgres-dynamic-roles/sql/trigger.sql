-- The ownership problem of dynamic PostgreSQL roles: an object belongs to the role that created it. When a short-lived role creates a
-- table (a migration at start-up, a plugin installation), the next pod's role cannot use it, and Vault cannot drop
-- the role when its lease ends. This event trigger gives every table, function, schema and free-standing sequence
-- created in the public schema to db1_grp at once, in the transaction that created it. Run it as a superuser
-- (event triggers need one), after setup.sql:
--   psql -v ON_ERROR_STOP=1 -f sql/trigger.sql
-- (The revocation statements also REASSIGN OWNED BY the role TO db1_grp, for whatever the trigger did not catch.)
\connect db1
CREATE OR REPLACE FUNCTION trg_create_set_owner()
 RETURNS event_trigger
 LANGUAGE plpgsql
AS $$
DECLARE
  obj record;
BEGIN
  FOR obj IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF obj.schema_name IN ('public') THEN
      IF obj.command_tag IN ('CREATE TABLE', 'CREATE FUNCTION', 'CREATE SCHEMA') THEN
        EXECUTE format('ALTER %s %s OWNER TO db1_grp', substring(obj.command_tag from 8), obj.object_identity);
      ELSIF obj.command_tag = 'CREATE SEQUENCE'
        AND NOT EXISTS(SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid
                       WHERE s.relkind = 'S' AND d.deptype = 'a' AND s.relname = split_part(obj.object_identity, '.', 2)) THEN
        -- a sequence owned by a table column (serial) follows its table; only free-standing ones are given away
        EXECUTE format('ALTER SEQUENCE %s OWNER TO db1_grp', obj.object_identity);
      END IF;
    END IF;
  END LOOP;
END;
$$;

CREATE EVENT TRIGGER trg_create_set_owner
 ON ddl_command_end
 WHEN tag IN ('CREATE TABLE', 'CREATE FUNCTION', 'CREATE SCHEMA', 'CREATE SEQUENCE')
 EXECUTE PROCEDURE trg_create_set_owner();
