"""The swarm's Keras parts (import TensorFlow): AdaSwarm and batched PSO training of weights.

They live with the rest of natsel's Keras code in :mod:`natsel.objectives.keras.swarm`; this module
keeps the documented name ``natsel.swarm.keras.AdaSwarmModel``.
"""

from natsel.objectives.keras.swarm import AdaSwarmModel, batched_loss_fn, initial_particles, pso_train, unflatten

__all__ = ["AdaSwarmModel", "batched_loss_fn", "initial_particles", "pso_train", "unflatten"]
