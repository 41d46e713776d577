"""Molecular properties for conditional generation: QM9's six conditioning targets and EDM's protocol around them
(the two halves of the train split, the target sampler), and the judges of a generated molecule's property (an
EGNN classifier trained on the first half; GFN2-xTB)."""
