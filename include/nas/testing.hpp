// Opt-in test helpers: toy problems with known optima, gradient checks, callback recorder.
#pragma once

#include "nas/testing/choice_space.hpp"
#include "nas/testing/compare.hpp"
#include "nas/testing/fidelity_toy.hpp"
#include "nas/testing/find_optimum.hpp"
#include "nas/testing/gradcheck.hpp"
#include "nas/testing/graph_gradcheck.hpp"
#include "nas/testing/recorder.hpp"
#include "nas/testing/toy_estimator.hpp"
#include "nas/testing/toy_spaces.hpp"
