"""Swarm intelligence: PSO/EMPSO (numpy), gradient-free PSO training of Keras weights, and AdaSwarm.

>>> from natsel.swarm import SwarmOptions, minimize, sphere
>>> minimize(sphere, 3, SwarmOptions(iterations=300), bounds=(-5, 5), seed=0).best_cost < 1e-8
True

The Keras parts (``natsel.objectives.keras.swarm``) import TensorFlow; this module does not.
"""

from natsel.swarm._pso import SwarmOptions, SwarmResult, SwarmTrajectory, minimize, rastrigin, rosenbrock, sphere, step

__all__ = ["SwarmOptions", "SwarmResult", "SwarmTrajectory", "minimize", "rastrigin", "rosenbrock", "sphere", "step"]
