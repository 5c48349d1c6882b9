"""Neural-network building blocks: modules, layers, losses (``cr.nn.functional``)."""
