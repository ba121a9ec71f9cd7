"""Terminal adapters: `helpbot ask`, `kb`, `chat`, `operator`, `db`, `report`."""
