"""Everything with state: database models and setup, migrations, and (later) object store,
broker and rate-limit stores. A leaf package: never imports server, schema, resolvers or imaging."""
