//! Compose records: compose IDs, states, inputs and outputs.
