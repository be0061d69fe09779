"""Learn the appendix's 4x2 denoising map; prints one JSON line per SGD step.

python scripts/denoise.py [--steps 300] [--num-samples 1000] [--seed 0]
"""

from diffclust.experiments.denoise import main

if __name__ == "__main__":
    main()
