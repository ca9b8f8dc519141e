"""The deploy-time database setup custom resource handler (Lambda asset: this directory, `index.handler`)."""
