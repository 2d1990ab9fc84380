// Umbrella header: everything in nas.
#pragma once

#include "nas/core/budget.hpp"
#include "nas/core/callbacks.hpp"
#include "nas/core/concepts.hpp"
#include "nas/core/error.hpp"
#include "nas/core/evaluation.hpp"
#include "nas/core/history.hpp"
#include "nas/core/rng.hpp"
#include "nas/core/run.hpp"
#include "nas/core/space_size.hpp"
