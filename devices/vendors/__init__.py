"""Adapters for vendor payloads: one module per device model, each parsing what the real device sends into our
vocabulary (``devices.readings``) and encoding it back exactly as the device would, for the simulators.

A real device can then replace its simulator without any other change.
"""
