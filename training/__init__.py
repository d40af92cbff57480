"""linkadapt offline pipeline: simulator, teacher training, distillation, export."""
