"""What the pipeline is: discovery of stages, the graph, params, code fingerprints."""
